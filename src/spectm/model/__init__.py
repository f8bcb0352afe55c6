"""SpecTM model: encoder, masking strategies, heads, the multi-task loss, devices and artefacts.

Import the modules themselves (``spectm.model.encoder``, ``spectm.model.masking``, ...): this
package imports nothing, so the masking constants are available without importing torch.
"""
