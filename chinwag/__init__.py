"""chinwag: a Trio-native runtime that hosts AI chat sessions."""
