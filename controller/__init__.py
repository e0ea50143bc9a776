"""The kopf operator that manages NetworkAttachmentDefinitions: admission, status, usage, protection."""
