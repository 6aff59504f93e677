"""edgedistil: distil a BERT-class teacher into an int8 student that fits a named small device."""

__version__ = "0.1.0"
