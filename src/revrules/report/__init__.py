"""The segmentation report: measures, statistics, the data-driven ICP and the HTML page."""
