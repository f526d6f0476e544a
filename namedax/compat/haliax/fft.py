"""`haliax.fft`: discrete Fourier transforms along named axes."""

from namedax.ops._fft import (
    AxisSizeLike as AxisSizeLike,
    fft as fft,
    fftfreq as fftfreq,
    fftshift as fftshift,
    hfft as hfft,
    ifft as ifft,
    ifftshift as ifftshift,
    ihfft as ihfft,
    irfft as irfft,
    rfft as rfft,
    rfftfreq as rfftfreq,
)
