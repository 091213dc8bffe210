"""Static pages and ES modules for the widget, link page and console."""
