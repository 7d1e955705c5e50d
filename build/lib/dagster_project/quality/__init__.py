"""Data quality: completeness and validity (Great Expectations), integrity, and the publish gate."""
