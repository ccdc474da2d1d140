"""Dataset widgets: ``widgets.data.browser.DatasetBrowser``."""
