"""Staff domain (SPEC §7): roles and what each allows, password and token hashing. No Flask here."""
