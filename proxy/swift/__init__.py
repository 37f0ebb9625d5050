"""Swift v1: paths, ACLs, listings, headers and errors as Swift clients expect them."""
