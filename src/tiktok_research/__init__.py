"""TikTok research pipeline: every piece of logic the Snakemake workflow runs lives here."""

__version__ = "0.1.0"
