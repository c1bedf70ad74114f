"""Rate limits: per client on the token endpoint and the partner API, per source address for
failed authentication (the token, introspection and revocation endpoints, console sign-in),
counted by the ``limits`` library in storage every worker of a node shares — or every node,
with a shared Redis."""
