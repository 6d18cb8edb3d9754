"""netns layer."""
