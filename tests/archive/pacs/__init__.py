"""PACS client and DICOM node tests (a package: module names stay unique)."""
