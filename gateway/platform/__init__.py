"""Platform endpoints: health, metrics, the contract and its documentation, the scope registry."""
