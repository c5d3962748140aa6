"""API routers, one per family: runtime (bedrock-runtime), control (bedrock), openai (/v1), ops."""
