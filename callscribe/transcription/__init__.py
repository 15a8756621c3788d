"""Offline speech-to-text of telephony recordings."""

import os

# onnxruntime (the Silero VAD runs on it) reports usage to Microsoft unless told not to;
# callscribe must not talk to anyone the admin did not configure.  Set before any import
# of onnxruntime, which faster-whisper does lazily.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
