"""Tokenizer classes and writers of zhplm's architectures (not architectures themselves: the registry skips
this package)."""
