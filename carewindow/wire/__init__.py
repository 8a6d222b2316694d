"""Meta Cloud API JSON <-> typed values. Shared by the api, the Meta client and the sandbox."""
