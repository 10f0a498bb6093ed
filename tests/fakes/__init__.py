"""Loopback fakes for the download tests: an HTTP file server with faults, a fake Hugging Face API."""
