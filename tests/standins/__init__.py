"""Loopback stand-ins for vendor APIs, one module per vendor, written from their documentation."""
