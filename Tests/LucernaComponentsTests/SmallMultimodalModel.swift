import LucernaComponents
import LucernaCore
import XCTest

/// The small multimodal classifier the modality tests share: an 8×8 image through `conv_encoder` and a
/// 6-mel spectrogram through `temporal_encoder`, fused by concatenation into 3 classes, initialised from the
/// shared generator reseeded with `seed` (`fusion` another fusion's spec).
func smallMultimodalClassifier(seed: UInt64, registry: Registry, fusion: ConfigValue = .string("concat")) throws
    -> MultimodalClassifier
{
    RandomGenerator.shared.reseed(seed)
    let encoders: ConfigValue = .table([
        "image": .table([
            "type": .string("conv_encoder"), "input_size": .list([.number(8), .number(8)]),
            "channels": .list([.number(3), .number(4)]), "dim": .number(6),
        ]),
        "audio": .table([
            "type": .string("temporal_encoder"), "mels": .number(6), "channels": .list([.number(4), .number(4)]),
            "dim": .number(5),
        ]),
    ])
    let options: [String: ConfigValue] = ["encoders": encoders, "fusion": fusion, "classes": .number(3)]
    return try XCTUnwrap(
        try registry.build(.model, "multimodal_classifier", options: options) as? MultimodalClassifier)
}
