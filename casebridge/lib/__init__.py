"""Small pure helpers shared by the apps. No Django imports at module level."""
