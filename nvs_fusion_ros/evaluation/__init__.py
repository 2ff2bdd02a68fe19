"""evaluation: the paper's protocols over a test split, their runs and reports, and the metrics.

One module per kind of measure: ``image_metrics`` (PSNR, SSIM, LPIPS, the foreground measures),
``geometry_metrics`` (Chamfer distance and F-score of point sets), ``ensemble_metrics`` (a set of
samples against one truth).
"""
