"""The real-recording sound bank builder (``seld-bank build-real``): Debian packages -> 24 kHz mono clips with a
manifest (``seld_ros.data.manifest``). ROS-free. Modules: ``fetch`` (apt-get download + dpkg-deb -x cache),
``containers`` (zip/pk3/wz, Qt rcc, OpenClonk C4Group, OpenTTD cat), ``decode`` (soundfile, sox/ffmpeg),
``dsp`` (resampling, trimming, cutting, checks, loudness, YIN F0), ``midi`` (SMF writer, fluidsynth),
``mapping`` (config/real_bank/mapping.yaml), ``build`` (the pipeline, splits, bank writing)."""
