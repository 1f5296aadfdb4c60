// Package models knows the embedding models kefu supports: a manifest of
// their files and shapes, where to find them on this machine, how to
// download them with a checksum check, and how to describe a user's own
// sentence-transformers export; and which model a command runs with and
// when a KB is re-embedded with another (kb.go).
//
// It imports the root and internal packages, never another stage: a KB's
// store and model come in as kefu.Store and kefu.Embedder.
package models

import (
	"strings"

	"github.com/kefu-dev/kefu"
)

// Query instructions of the BGE v1.5 models (their model cards).
const (
	bgeEnQuery = "Represent this sentence for searching relevant passages: "
	bgeZhQuery = "为这个句子生成表示以用于检索相关文章："
)

// hfFiles lists the files of a sentence-transformers repository's ONNX
// export that kefu reads. onnxSHA is the ONNX file's checksum, "" when it is
// not pinned.
func hfFiles(onnxSHA string) []kefu.ModelFile {
	return []kefu.ModelFile{
		{Name: "onnx/model.onnx", SHA256: onnxSHA},
		{Name: "tokenizer.json"},
		{Name: "config.json"},
		{Name: "tokenizer_config.json"},
		{Name: "special_tokens_map.json"},
	}
}

// Manifest returns the supported models, best known first within each kind.
// The HuggingFace models are downloadable from their pinned revisions; the
// shared ones exist only in ../shared/models (no public download).
func Manifest() []kefu.ModelSpec {
	return []kefu.ModelSpec{
		{
			Name: "multilingual-e5-small", Files: hfFiles(""), ONNXFile: "onnx/model.onnx",
			Dim: 384, Pooling: kefu.PoolMean, Normalize: true, MaxTokens: 512,
			QueryPrefix: "query: ", PassagePrefix: "passage: ",
			Languages:  []string{"multi", "zh", "en"},
			Repo:       "intfloat/multilingual-e5-small",
			Revision:   "614241f622f53c4eeff9890bdc4f31cfecc418b3",
			Pretrained: true,
			Notes:      "XLM-R SentencePiece tokenizer (Precompiled normaliser): not covered by a golden file here. ONNX sha256 not pinned.",
		},
		{
			Name: "bge-small-zh-v1.5", Files: hfFiles(""), ONNXFile: "onnx/model.onnx",
			Dim: 512, Pooling: kefu.PoolCLS, Normalize: true, MaxTokens: 512,
			QueryPrefix: bgeZhQuery,
			Languages:   []string{"zh", "en"},
			Repo:        "BAAI/bge-small-zh-v1.5",
			Revision:    "7999e1d3359715c523056ef9478215996d62a620",
			Pretrained:  true,
			Notes:       "Query instruction only on queries, as its model card advises for short-query retrieval. ONNX sha256 not pinned.",
		},
		{
			Name: "paraphrase-multilingual-MiniLM-L12-v2", Files: hfFiles(""), ONNXFile: "onnx/model.onnx",
			Dim: 384, Pooling: kefu.PoolMean, Normalize: true, MaxTokens: 128,
			Languages:  []string{"multi", "zh", "en"},
			Repo:       "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
			Revision:   "e8f8c211226b894fcb81acc59f3b34ba3efd5f42",
			Pretrained: true,
			Notes:      "Its sentence-transformers pipeline does not normalise; kefu does, since embedders return unit vectors (cosine ranking is unchanged). XLM-R tokenizer, not covered by a golden file here. ONNX sha256 not pinned.",
		},
		{
			Name: "bge-small-en-v1.5", Files: hfFiles(""), ONNXFile: "onnx/model.onnx",
			Dim: 384, Pooling: kefu.PoolCLS, Normalize: true, MaxTokens: 512,
			QueryPrefix: bgeEnQuery,
			Languages:   []string{"en"},
			Repo:        "BAAI/bge-small-en-v1.5",
			Revision:    "5c38ec7c405ec4b44b94cc5a9bb96e735b38267a",
			Pretrained:  true,
			Notes:       "ONNX sha256 not pinned.",
		},
		{
			Name: "all-MiniLM-L6-v2",
			// Checksum from the Git LFS pointer of onnx/model.onnx in a
			// byte-for-byte duplicate of the repository (delwinn/all-MiniLM-L6-v2).
			Files:    hfFiles("6fd5d72fe4589f189f8ebc006442dbb529bb7ce38f8082112682524616046452"),
			ONNXFile: "onnx/model.onnx",
			Dim:      384, Pooling: kefu.PoolMean, Normalize: true, MaxTokens: 256,
			Languages:  []string{"en"},
			Repo:       "sentence-transformers/all-MiniLM-L6-v2",
			Revision:   "c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
			Pretrained: true,
		},
		{
			Name: "use-lite-en",
			Files: []kefu.ModelFile{
				// Not listed in its README: computed from ../shared/models/use-lite-en
				// when this manifest was written, pinning the copy the tests ran on.
				{Name: "model.onnx", Size: 28073406, SHA256: "229f460ea501c23b0216b3d2e33b3208b3fcb9b2a415d4a8ab2f2d6da6b76279"},
				{Name: "tokenizer.json", Size: 235114, SHA256: "766222e70395db17dbc1b51f112894439976d0b295ae2e7ce7bbb636c8f371d5"},
				{Name: "tokenizer_config.json", Size: 233, SHA256: "0b49e4f820a14db84ad3658d2519e105b366dd2f8f1219c605079c3531f4e57a"},
			},
			ONNXFile: "model.onnx",
			Dim:      512, Pooling: kefu.PoolOutput, Output: "sentence_embedding", Normalize: false, MaxTokens: 128,
			Languages:  []string{"en"},
			Pretrained: true,
			Notes:      "Universal Sentence Encoder Lite (Apache-2.0) converted to ONNX; the graph pools and L2-normalises. Case-sensitive Unigram tokenizer with NFKC, no special tokens, pad id 1. Only in ../shared/models.",
		},
		{
			Name:     "minilm-l6-shape",
			Files:    sharedBERTFiles("74494f9f30cf694a53bb55b234a6e6e5c0b567499c78ba1ce98bf1ed2371c8fa", 90358620, "8fe3bda9461b43ab3a93fa0232ee4c4be74fc2aca187fa511e1ac691c66bf6bc", 2661, "d241a60d5e8f04cc1b2b3e9ef7a4921b27bf526d9f6050ab90f9267a1f9e5c66", 711396, "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7"),
			ONNXFile: "model.onnx",
			Dim:      384, Pooling: kefu.PoolMean, Normalize: true, MaxTokens: 256,
			Languages: []string{"en"},
			Notes:     "RANDOM weights with exactly all-MiniLM-L6-v2's architecture: speed benchmarks only. Only in ../shared/models.",
		},
		{
			Name:     "tiny-en",
			Files:    sharedBERTFiles("e282d4cd00cace125e92e66c5b8abf116c3ee15cf87005a7d626c95446b54dd7", 8248916, "1f59210f789633266adec6b074c1b0cea49663b8da67f1d38bd112b96425fba8", 2647, "d241a60d5e8f04cc1b2b3e9ef7a4921b27bf526d9f6050ab90f9267a1f9e5c66", 711396, "70f4448f31320443fe3557cacea5abf2dcc4915dda8c80646bec9f3bb0aa5a1f"),
			ONNXFile: "model.onnx",
			Dim:      64, Pooling: kefu.PoolMean, Normalize: true, MaxTokens: 128,
			Languages: []string{"en"},
			Notes:     "RANDOM weights, 2-layer BERT with bert-base-uncased vocabulary: unit tests only. Only in ../shared/models.",
		},
		{
			Name:     "tiny-zh",
			Files:    sharedBERTFiles("7cdf132379862a4b773ad1c282d14df8341c6ad26c2187159696908ec05f7ba9", 5844052, "e09dc6f84fd29d672a429521a54cc56f218ce8618893a1a092f5006dd0d938cb", 2715, "7dfbf1966ebf99d471c3796e9b457329d2b2182b817e144f1e904b957745c839", 439124, "70f4448f31320443fe3557cacea5abf2dcc4915dda8c80646bec9f3bb0aa5a1f"),
			ONNXFile: "model.onnx",
			Dim:      64, Pooling: kefu.PoolMean, Normalize: true, MaxTokens: 128,
			Languages: []string{"zh"},
			Notes:     "RANDOM weights, 2-layer BERT with bge-small-zh-v1.5's vocabulary: unit tests only. Only in ../shared/models.",
		},
	}
}

// sharedBERTFiles lists the files of a shared BERT test model, with the
// checksums of its README.
func sharedBERTFiles(onnxSHA string, onnxSize int64, configSHA string, configSize int64, tokSHA string, tokSize int64, sbertSHA string) []kefu.ModelFile {
	return []kefu.ModelFile{
		{Name: "model.onnx", Size: onnxSize, SHA256: onnxSHA},
		{Name: "tokenizer.json", Size: tokSize, SHA256: tokSHA},
		{Name: "config.json", Size: configSize, SHA256: configSHA},
		{Name: "sentence_bert_config.json", Size: 53, SHA256: sbertSHA},
		{Name: "special_tokens_map.json", Size: 124, SHA256: "3ae35dede5d87e857cbb754675061d15fc0c93070c26c01e62ea77238b9e7ccc"},
		{Name: "tokenizer_config.json", Size: 365, SHA256: "edc38d65a7cd2340f27ffd072a83568bff3548e11b1dde6129f25e403eff78f8"},
	}
}

// Lookup finds a manifest model by name or HuggingFace repository,
// ignoring case.
func Lookup(manifest []kefu.ModelSpec, name string) (kefu.ModelSpec, bool) {
	for _, m := range manifest {
		if strings.EqualFold(m.Name, name) || (m.Repo != "" && strings.EqualFold(m.Repo, name)) {
			return cloneSpec(m), true
		}
	}
	return kefu.ModelSpec{}, false
}

func cloneSpec(m kefu.ModelSpec) kefu.ModelSpec {
	m.Files = append([]kefu.ModelFile(nil), m.Files...)
	m.Languages = append([]string(nil), m.Languages...)
	return m
}
