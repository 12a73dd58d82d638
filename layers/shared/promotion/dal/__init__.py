"""Data access: DynamoDB tables behind small interfaces."""
