"""Stage 3: the filtered training set, the fine-tuned NL2SQL model, its evaluation and the export."""
