"""The catalogue of built-in datasets: names, titles, classes, shapes, counts, official files with their MD5s and
sizes, the members read from each archive (no Qt)."""

from __future__ import annotations

from dataclasses import dataclass

MIRROR_ENV = "FILTER_EXPLORER_MIRROR"


@dataclass(frozen=True)
class RemoteFile:
    filename: str
    url: str
    md5: str
    size: int  # bytes (as published; for display)


@dataclass(frozen=True)
class Builtin:
    name: str
    title: str
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]  # H, W, C
    counts: tuple[int, int]  # train, test
    files: tuple[RemoteFile, ...]
    download_dir: str  # under the root: where the files go (archives are unpacked into the root)
    credit: str

    @property
    def download_size(self) -> int:
        return sum(f.size for f in self.files)


_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_KRIZ = "https://www.cs.toronto.edu/~kriz/"
_STL = "http://ai.stanford.edu/~acoates/stl10/"

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
STL10_CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")

BUILTINS: dict[str, Builtin] = {
    "mnist": Builtin(
        "mnist", "MNIST handwritten digits", tuple(str(i) for i in range(10)), (28, 28, 1), (60000, 10000),
        (RemoteFile("train-images-idx3-ubyte.gz", _MNIST + "train-images-idx3-ubyte.gz",
                    "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
         RemoteFile("train-labels-idx1-ubyte.gz", _MNIST + "train-labels-idx1-ubyte.gz",
                    "d53e105ee54ea40749a09fcbcd1e9432", 28881),
         RemoteFile("t10k-images-idx3-ubyte.gz", _MNIST + "t10k-images-idx3-ubyte.gz",
                    "9fb629c4189551a2d022fa330f9573f3", 1648877),
         RemoteFile("t10k-labels-idx1-ubyte.gz", _MNIST + "t10k-labels-idx1-ubyte.gz",
                    "ec29112dd5afa0611ce80d1b7f02629c", 4542)),
        "MNIST/raw", "Yann LeCun, Corinna Cortes, Christopher Burges (CC BY-SA 3.0)"),
    "fashion-mnist": Builtin(
        "fashion-mnist", "Fashion-MNIST clothing", FASHION_CLASSES, (28, 28, 1), (60000, 10000),
        (RemoteFile("train-images-idx3-ubyte.gz", _FASHION + "train-images-idx3-ubyte.gz",
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26421880),
         RemoteFile("train-labels-idx1-ubyte.gz", _FASHION + "train-labels-idx1-ubyte.gz",
                    "25c81989df183df01b3e8a0aad5dffbe", 29515),
         RemoteFile("t10k-images-idx3-ubyte.gz", _FASHION + "t10k-images-idx3-ubyte.gz",
                    "bef4ecab320f06d8554ea6380940ec79", 4422102),
         RemoteFile("t10k-labels-idx1-ubyte.gz", _FASHION + "t10k-labels-idx1-ubyte.gz",
                    "bb300cfdad3c16e7a12a480ee83cd310", 5148)),
        "FashionMNIST/raw", "Zalando Research (MIT licence)"),
    "cifar10": Builtin(
        "cifar10", "CIFAR-10 (32x32 colour, 10 classes)", CIFAR10_CLASSES, (32, 32, 3), (50000, 10000),
        (RemoteFile("cifar-10-binary.tar.gz", _KRIZ + "cifar-10-binary.tar.gz",
                    "c32a1d4ab5d03f1284b67883e8d87530", 170052171),),
        "", "Alex Krizhevsky, Vinod Nair, Geoffrey Hinton (2009)"),
    "cifar100": Builtin(
        "cifar100", "CIFAR-100 (32x32 colour, 100 fine classes)", tuple(f"class {i}" for i in range(100)),
        (32, 32, 3), (50000, 10000),
        (RemoteFile("cifar-100-binary.tar.gz", _KRIZ + "cifar-100-binary.tar.gz",
                    "03b5dce01913d631647c71ecec9e9cb8", 168513733),),
        "", "Alex Krizhevsky, Vinod Nair, Geoffrey Hinton (2009)"),
    "stl10": Builtin(
        "stl10", "STL-10 (96x96 colour, 10 classes; labelled part)", STL10_CLASSES, (96, 96, 3), (5000, 8000),
        (RemoteFile("stl10_binary.tar.gz", _STL + "stl10_binary.tar.gz",
                    "91f7769df0f17e558f3565bffb0c7dfb", 2640397119),),
        "", "Adam Coates, Honglak Lee, Andrew Y. Ng (2011)"),
}

# members unpacked from each archive (STL-10's 2.4 GB unlabeled_X.bin is left out)
ARCHIVE_MEMBERS = {
    "cifar-10-binary.tar.gz": ("cifar-10-batches-bin", [f"data_batch_{i}.bin" for i in range(1, 6)]
                               + ["test_batch.bin", "batches.meta.txt"]),
    "cifar-100-binary.tar.gz": ("cifar-100-binary", ["train.bin", "test.bin", "fine_label_names.txt",
                                                     "coarse_label_names.txt"]),
    "cifar-10-python.tar.gz": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)]
                               + ["test_batch", "batches.meta"]),
    "cifar-100-python.tar.gz": ("cifar-100-python", ["train", "test", "meta"]),
    "stl10_binary.tar.gz": ("stl10_binary", ["train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin",
                                             "class_names.txt"]),
}
OPTIONAL_MEMBERS = {"batches.meta.txt", "fine_label_names.txt", "coarse_label_names.txt", "class_names.txt",
                    "batches.meta", "meta"}


def builtin_names() -> list[str]:
    return ["digits", *BUILTINS]
