"""Request and response bodies of each route, field for field as the API it copies: OpenAI's
embeddings (`/v1/embeddings`) and text-embeddings-inference's `/embed`, `/rerank`, `/predict`,
`/tokenize`. They make the OpenAPI schema (`/openapi.json`, `/docs`) and check requests; the
limits (texts per request, tokens) are checked by the routes, which answer 413 rather than 422.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

Texts = StrictStr | list[StrictStr]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


# OpenAI: https://platform.openai.com/docs/api-reference/embeddings/create


class EmbeddingsRequest(_Body):
    input: StrictStr | list[StrictStr] | list[StrictInt] | list[list[StrictInt]] = Field(
        description="a text, a list of texts, or token ids of the model's vocabulary (a list, or a list of lists)"
    )
    model: StrictStr = Field(description="any name: this server holds one model, named in the answer")
    encoding_format: Literal["float", "base64"] = Field("float", description="base64: little-endian float32 bytes")
    dimensions: StrictInt | None = Field(None, ge=1, description="keep the first k dimensions (Matryoshka)")
    user: StrictStr | None = None


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    embedding: list[float] | str
    index: int


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: Usage


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    error: OpenAIErrorDetail


# text-embeddings-inference: https://huggingface.github.io/text-embeddings-inference/


class TeiError(BaseModel):
    error: str
    error_type: str


class EmbedRequest(_Body):
    inputs: Texts
    normalize: StrictBool | None = Field(None, description="default: the model's own (its sentence-transformers files)")
    truncate: StrictBool | None = Field(
        None, description="cut texts longer than the model reads; default: refuse (422)"
    )
    truncation_direction: Literal["Right", "right"] = "Right"
    prompt_name: StrictStr | None = None
    dimensions: StrictInt | None = Field(None, ge=1)


class RerankRequest(_Body):
    query: StrictStr
    texts: list[StrictStr]
    raw_scores: StrictBool = False
    return_text: StrictBool = False
    truncate: StrictBool | None = None
    truncation_direction: Literal["Right", "right"] = "Right"
    top_n: StrictInt | None = Field(None, ge=1)


class Rank(BaseModel):
    index: int
    score: float
    text: str | None = None


class PredictRequest(_Body):
    inputs: StrictStr | list[StrictStr | list[StrictStr]] = Field(
        description='a text; a pair ["text", "text_b"]; or a list of texts and pairs'
    )
    raw_scores: StrictBool = False
    truncate: StrictBool | None = None
    truncation_direction: Literal["Right", "right"] = "Right"


class Prediction(BaseModel):
    label: str
    score: float


class TokenizeRequest(_Body):
    inputs: Texts
    add_special_tokens: StrictBool = True
    prompt_name: StrictStr | None = None


class Token(BaseModel):
    id: int
    text: str
    special: bool
    start: int | None
    stop: int | None


class FillMaskRequest(_Body):
    inputs: Texts
    top_k: StrictInt = Field(5, ge=1, le=100)


class Filler(BaseModel):
    token: str
    token_id: int
    score: float


class Status(BaseModel):
    status: str


class Info(BaseModel):
    model_id: str
    model_type: Literal["embedding", "classifier", "reranker", "tagger"]
    dim: int
    max_input_length: int
    precision: str
    max_batch_tokens: int
    max_client_batch_size: int
    max_body_bytes: int
    max_queue: int
    request_timeout_s: float
    auto_truncate: bool
