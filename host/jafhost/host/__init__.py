"""``Host``: the one object that composes discovery, decisions and the runtime."""
