"""Identity: a Keystone v3 subset (users, projects, roles, tokens, catalog, EC2 credentials)."""
