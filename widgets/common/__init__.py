"""What every workspace shares: the worker that runs ``app`` tasks off the GUI thread, one image view, the settings
file, the ``Workspace`` protocol and small dialogs."""
