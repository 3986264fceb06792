"""oscar-iac's demo model: an iris classifier trained when the runner image is built."""
