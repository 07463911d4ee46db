"""The Chinook digital music store: a third domain built from the public Chinook sample database."""
