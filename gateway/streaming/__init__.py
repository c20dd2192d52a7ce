"""Server-streaming routes over HTTP: framing by Accept (`framing.py`), caps on open streams
(`admission.py`), and the respond stage that sends the events (`response.py`)."""
