"""The tl tests share the root conftest's ``toy_model`` and ``fast_fit_kwargs`` (they must not modify them)."""
