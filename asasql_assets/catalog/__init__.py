"""Stage 1, step 0: the domain workbook as validated tables."""
