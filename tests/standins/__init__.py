"""Stand-ins for vendor APIs: small loopback servers written from the vendors' docs."""
