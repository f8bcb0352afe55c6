"""Report products: quicklook figures, tables and the HTML report."""
