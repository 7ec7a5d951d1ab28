// Original file: ../../proto/wgmesh/v1/mesh.proto


export interface LeaveResponse {
}

export interface LeaveResponse__Output {
}
