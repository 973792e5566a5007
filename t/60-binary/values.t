# Values are bytes, and every byte survives the trip: NUL, each of the 256
# byte values (alone and all in one value), CR/LF and text that looks like
# RESP framing ("\r\n$3\r\nfoo\r\n"), the empty string and "0" come back
# unchanged - and as byte strings, never with Perl's UTF-8 flag - through
# strings (SET/GET, MSET/MGET, APPEND/GETRANGE/STRLEN counting bytes), hashes,
# lists, sets, sorted-set members and stream field values, under RESP2 and
# RESP3.
use Test2::V0;
use Test2::API qw(context);
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');

my $all_bytes = join '', map { chr } 0 .. 255;
my @singles   = map { chr } 0 .. 255;

# name => value; none of them carries the UTF-8 flag.
my @named = (
    'NUL alone'           => "\x00",
    'NULs'                => "\x00\x00\x00",
    'NUL inside'          => "a\x00b",
    'NUL at the ends'     => "\x00middle\x00",
    'all 256 bytes'       => $all_bytes,
    'all 256 bytes, down' => join( '', map { chr } reverse 0 .. 255 ),
    'CRLF'                => "\r\n",
    'CRLFs'               => "line 1\r\nline 2\r\n\r\n",
    'lone CR and LF'      => "\r\rx\n\n",
    'bulk lookalike'      => "\r\n\$3\r\nfoo\r\n",
    'command lookalike'   => "*2\r\n\$3\r\nGET\r\n\$1\r\nx\r\n",
    'status lookalike'    => "+OK\r\n",
    'error lookalike'     => "-ERR not really\r\n",
    'integer lookalike'   => ":1\r\n",
    'nil lookalike'       => "\$-1\r\n",
    'RESP3 lookalike'     => "_\r\n%1\r\n+a\r\n#t\r\n",
    'short bulk header'   => "\$10\r\nab",
    'empty string'        => '',
    'just 0'              => '0',
    'high bytes'          => "\x80\xff\xfe\xc3\x28\xed\xa0\x80",
);
my ( @names, @values );
while ( my ( $n, $v ) = splice @named, 0, 2 ) {
    push @names,  $n;
    push @values, $v;
}
ok( !( grep { utf8::is_utf8($_) } @values, @singles ), 'the test values are byte strings' );

# A list of values, compared as one (a failure shows the slots that differ).
sub list_bytes_are {
    my ( $got, $want, $name ) = @_;
    my $ctx = context();
    my @got = ref $got eq 'ARRAY' ? @$got : ();
    is( ref $got,                                               'ARRAY', "$name: an array" );
    is( [ grep { !defined || ref || utf8::is_utf8($_) } @got ], [],    "$name: all byte strings" );
    is( FIORTest::hex_of(@got), [ map { unpack( 'H*', $_ ) } @$want ], "$name: exact bytes" );
    $ctx->release;
    return;
}

# Distinct values in byte order (for sets).
sub distinct_sorted {
    my %seen;
    return [ sort grep { !$seen{$_}++ } @_ ];
}

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %$srv, protocol => $protocol );
        $redis->connect->get;
        my $base = FIORTest::unique_key("values$protocol");
        my @keys;
        my $key = sub { my $k = "$base:$_[0]"; push @keys, $k; return $k };

        subtest 'SET / GET, one value each' => sub {
            my @k = map { $key->("s:$_") } 0 .. $#values;
            my @set
                = $loop->await(
                Future->needs_all( map { $redis->set( $k[$_], $values[$_] ) } 0 .. $#values ) )
                ->get;
            is( \@set, [ ('OK') x @values ], 'every SET answered OK' );
            for my $i ( 0 .. $#values ) {
                FIORTest::bytes_are( $redis->get( $k[$i] )->get, $values[$i], $names[$i] );
                is(
                    $redis->strlen( $k[$i] )->get,
                    length $values[$i],
                    "$names[$i]: STRLEN counts the bytes"
                );
            }
        };

        subtest 'SET / GET, each single byte as its own value' => sub {
            my @k = map { $key->("b:$_") } 0 .. 255;
            $loop->await(
                Future->needs_all( map { $redis->set( $k[$_], $singles[$_] ) } 0 .. 255 ) )->get;
            my @got = $loop->await( Future->needs_all( map { $redis->get($_) } @k ) )->get;
            list_bytes_are( \@got, \@singles, 'GET of each byte' );
            my @len = $loop->await( Future->needs_all( map { $redis->strlen($_) } @k ) )->get;
            is( \@len, [ (1) x 256 ], 'STRLEN 1 for each' );
        };

        subtest 'MSET / MGET' => sub {
            my @v = ( @values, @singles );
            my @k = map { $key->("m:$_") } 0 .. $#v;
            is( $redis->mset( map { ( $k[$_], $v[$_] ) } 0 .. $#v )->get, 'OK', 'MSET' );
            list_bytes_are( $redis->mget(@k)->get, \@v, 'MGET' );
        };

        subtest 'HSET / HGET / HGETALL (values)' => sub {
            my $h = $key->('hash');
            my %want;
            $want{"named:$_"} = $values[$_]  for 0 .. $#values;
            $want{"byte:$_"}  = $singles[$_] for 0 .. 255;
            is( $redis->hset( $h, %want )->get, scalar keys %want, 'HSET added every field' );
            for my $i ( 0 .. $#values ) {
                FIORTest::bytes_are( $redis->hget( $h, "named:$i" )->get,
                    $values[$i], "HGET $names[$i]" );
            }
            my @bytes
                = $loop->await(
                Future->needs_all( map { $redis->hget( $h, "byte:$_" ) } 0 .. 255 ) )->get;
            list_bytes_are( \@bytes, \@singles, 'HGET of each byte' );

            my $all = $redis->hgetall($h)->get;
            is( ref $all,                                         'HASH', 'HGETALL: a hash' );
            is( [ sort grep { utf8::is_utf8($_) } values %$all ], [],     'HGETALL: byte strings' );
            is(
                { map { $_ => unpack( 'H*', $all->{$_} ) } keys %$all },
                { map { $_ => unpack( 'H*', $want{$_} ) } keys %want },
                'HGETALL: exact bytes for every field'
            );
            is( $redis->hstrlen( $h, 'byte:0' )->get,  1,   'HSTRLEN of a NUL: 1' );
            is( $redis->hstrlen( $h, 'named:4' )->get, 256, 'HSTRLEN of all bytes: 256' );
        };

        subtest 'RPUSH / LRANGE' => sub {
            my $l = $key->('list');
            my @v = ( @values, @singles );
            is( $redis->rpush( $l, @v )->get, scalar @v, 'RPUSH' );
            list_bytes_are( $redis->lrange( $l, 0, -1 )->get, \@v, 'LRANGE, in order' );
            FIORTest::bytes_are( $redis->lindex( $l, 4 )->get, $all_bytes, 'LINDEX' );
        };

        subtest 'SADD / SMEMBERS' => sub {
            my $s    = $key->('set');
            my $want = distinct_sorted( @values, @singles );
            is(
                $redis->sadd( $s, @values, @singles )->get,
                scalar @$want,
                'SADD counted the distinct members'
            );
            list_bytes_are( [ sort @{ $redis->smembers($s)->get } ], $want, 'SMEMBERS' );
            is( $redis->sismember( $s, $_ )->get, 1, 'SISMEMBER ' . unpack( 'H*', $_ ) )
                for "\x00", "\r\n\$3\r\nfoo\r\n", '', '0', $all_bytes;
            is( $redis->sismember( $s, "\x00\x00" )->get, 0, 'a NUL pair is not a member' );
        };

        subtest 'ZADD / ZRANGE (members)' => sub {
            my $z    = $key->('zset');
            my $want = distinct_sorted( @values, @singles );
            my $i    = 0;
            is( $redis->zadd( $z, map { ( $i++, $_ ) } @$want )->get, scalar @$want, 'ZADD' );
            list_bytes_are( $redis->zrange( $z, 0, -1 )->get, $want, 'ZRANGE, in score order' );
            is( $redis->zscore( $z, $want->[5] )->get, 5, 'ZSCORE of a binary member' );
        };

        subtest 'XADD / XRANGE (field values)' => sub {
            my $x = $key->('stream');
            my @v = ( @values, @singles );
            my @ids;
            push @ids, $redis->xadd( $x, '*', map { ( "f$_" => $values[$_] ) } 0 .. $#values )->get;
            push @ids, $redis->xadd( $x, '*', map { ( "b$_" => $singles[$_] ) } 0 .. 255 )->get;
            push @ids, $redis->xadd( $x, '*', single => $_ )->get for @values;
            my $range = $redis->xrange( $x, '-', '+' )->get;
            is( [ map { $_->[0] } @$range ], \@ids, 'XRANGE: every entry, in order' );

            my ( @fields, @got );
            for my $entry (@$range) {
                my @fv = @{ $entry->[1] };
                while ( my ( $f, $v ) = splice @fv, 0, 2 ) {
                    push @fields, $f;
                    push @got,    $v;
                }
            }
            list_bytes_are( \@got, [ @values, @singles, @values ], 'XRANGE: field values' );
            is(
                \@fields,
                [
                    ( map { "f$_" } 0 .. $#values ),
                    ( map { "b$_" } 0 .. 255 ),
                    ('single') x @values
                ],
                'XRANGE: field names'
            );
        };

        subtest 'APPEND / GETRANGE / STRLEN' => sub {
            my $a = $key->('append');

            # Each byte in turn: APPEND answers the length in bytes so far.
            my @len = $loop->await( Future->needs_all( map { $redis->append( $a, $_ ) } @singles ) )
                ->get;
            is( \@len, [ 1 .. 256 ], 'APPEND counts bytes' );
            FIORTest::bytes_are( $redis->get($a)->get,
                $all_bytes, 'the bytes appended one at a time' );
            is( $redis->strlen($a)->get, 256, 'STRLEN' );
            for my $r ( [ 0, 0 ], [ 0, 3 ], [ 10, 13 ], [ 127, 129 ], [ 250, 255 ], [ 0, 255 ] ) {
                my ( $from, $to ) = @$r;
                FIORTest::bytes_are(
                    $redis->getrange( $a, $from, $to )->get,
                    substr( $all_bytes, $from, $to - $from + 1 ),
                    "GETRANGE $from $to"
                );
            }
            FIORTest::bytes_are( $redis->getrange( $a, -1, -1 )->get, "\xff", 'GETRANGE -1 -1' );
            FIORTest::bytes_are( $redis->getrange( $a, -3, -2 )->get, "\xfd\xfe",
                'GETRANGE -3 -2' );
            FIORTest::bytes_are( $redis->getrange( $a, 300, 400 )->get,
                '', 'GETRANGE past the end' );

            my $b    = $key->('append2');
            my $want = '';
            for my $i ( 0 .. $#values ) {
                $want .= $values[$i];
                is( $redis->append( $b, $values[$i] )->get,
                    length $want, "APPEND $names[$i]: the length in bytes" );
            }
            FIORTest::bytes_are( $redis->get($b)->get, $want, 'all the named values appended' );
            is( $redis->strlen($b)->get, length $want, 'STRLEN of them' );
            my $at = index( $want, "\r\n\$3\r\nfoo\r\n" );
            ok( $at > 0, 'the bulk lookalike is inside' );
            FIORTest::bytes_are( $redis->getrange( $b, $at, $at + 10 )->get,
                "\r\n\$3\r\nfoo\r\n", 'GETRANGE cuts it out exactly' );
        };

        subtest 'empty and "0" are not nil or false' => sub {
            my $e = $key->('empty');
            $redis->set( $e, '' )->get;
            my $got = $redis->get($e)->get;
            ok( defined $got, 'an empty value is defined' );
            is( $got,                        '',    'and empty' );
            is( $redis->exists($e)->get,     1,     'the key exists' );
            is( $redis->strlen($e)->get,     0,     'STRLEN 0' );
            is( $redis->get("$e:none")->get, undef, 'a missing key is nil' );
            my $z = $key->('zero');
            $redis->set( $z, '0' )->get;
            FIORTest::bytes_are( $redis->get($z)->get, '0', '"0"' );
            is( $redis->strlen($z)->get, 1, 'STRLEN of "0"' );
        };

        my $n = 0;
        $n += $redis->del( splice @keys, 0, 200 )->get while @keys;
        ok( $n > 0, 'deleted the keys' );
        is( $redis->keys("$base:*")->get, [], 'cleaned up' );
        $redis->disconnect;
    };
}
done_testing;
