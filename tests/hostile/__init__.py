"""Hostile pickle payloads, built opcode by opcode so no dangerous object is ever created in the test."""
