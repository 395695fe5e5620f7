"""What a run leaves behind: result files and tables, the HTML report, publishing for the next run."""
