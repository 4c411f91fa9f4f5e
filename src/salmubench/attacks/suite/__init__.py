"""The recovery attacks, one module each; every module here is imported by ``load_attacks()``."""
