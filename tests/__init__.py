# The Ketenreferentie key of every test and of the golden files (tests/mappings/regenerate.py):
# a test key, never one in use anywhere.
TEST_KEY = "test-key-of-the-ketenreferentie-not-for-production"
