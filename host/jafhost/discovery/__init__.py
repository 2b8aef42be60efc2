"""Finding plugins without running their code: entry points, folders, manifests,
resolution and the discovery cache."""
