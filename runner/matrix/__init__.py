"""The first step: ``matrix.yaml`` read, validated and expanded into cells."""
