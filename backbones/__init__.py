"""mmdet / mmseg modules for transfer (loaded by configs through ``custom_imports``)."""
