"""The daemon side of burstd: observing the clusters, acting on decisions, persisting state, leading."""
