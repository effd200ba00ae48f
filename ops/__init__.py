"""Operations: deploy files, the load generator (ops.bench), helper scripts."""
