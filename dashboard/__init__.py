"""The built-in sales dashboard (Streamlit): `make dashboard`. Reads only the published BI snapshot."""
